/* SPDX-License-Identifier: ISC */
/*
 * Running ffmpeg for a render (ffmpeg.c): used by the renders' make
 * functions (slideshow.c, audio.c).
 */
#ifndef FFMPEG_H
#define FFMPEG_H

#include <sys/types.h>

struct render_ctl;

int	 ffmpeg_run(struct render_ctl *, char *const argv[]);
pid_t	 ffmpeg_start(struct render_ctl *, char *const argv[], int *in);
int	 ffmpeg_feed(struct render_ctl *, int fd, const char *path);
int	 ffmpeg_wait(struct render_ctl *, pid_t, int failed);
const char *ffmpeg_format(const char *path);

#endif /* FFMPEG_H */
