/* The slideshow renderer behind GET /download-slideshow. */
#ifndef SLIDESHOW_H
#define SLIDESHOW_H

struct slideshow;

struct slideshow_stats {
	int		 running;
	int		 kept;
	unsigned long	 renders, rejected, failed;
};

struct slideshow *slideshow_new(const char *temp_dir, const char *ffmpeg,
		    int max, int timeout, int keep_s);
void		 slideshow_free(struct slideshow *);
void		 slideshow_stats(struct slideshow *, struct slideshow_stats *);

#endif /* SLIDESHOW_H */
