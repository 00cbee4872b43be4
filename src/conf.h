/* SPDX-License-Identifier: ISC */
/*
 * Configuration: KEY=value lines from a file given with -c, then the
 * environment (which wins).  Every value is checked at start; a bad one
 * stops the start with a message naming the key.
 *
 * Base: used by main() and read by every layer.
 */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>
#include <stdio.h>

struct conf {
	char	*base_url;		/* BASE_URL, no trailing slash */
	char	*allowed_hosts;		/* ALLOWED_HOSTS, or NULL */
	char	*encryption_key;	/* ENCRYPTION_KEY, NULL if unset */
	char	*temp_dir;		/* TEMP_DIR */
	char	*cookies_path;		/* COOKIES_PATH */
	int	 max_workers;		/* MAX_WORKERS */
	int	 ytdlp_timeout;		/* YTDLP_TIMEOUT, s */
	int	 download_timeout;	/* DOWNLOAD_TIMEOUT, s */
	int	 fcgi_threads;		/* FCGI_THREADS */
	int	 thread_stack_kb;	/* THREAD_STACK_KB */
	int	 listen_backlog;	/* LISTEN_BACKLOG, 0: somaxconn */
	int	 read_timeout;		/* READ_TIMEOUT, s */
	int	 send_timeout;		/* SEND_TIMEOUT, s */
	int	 helpers;		/* HELPERS */
	int	 helper_max_requests;	/* HELPER_MAX_REQUESTS */
	int	 helper_max_rss_mb;	/* HELPER_MAX_RSS_MB */
	char	*helper_script;		/* HELPER_SCRIPT */
	int	 queue_max;		/* QUEUE_MAX */
	int	 token_ttl;		/* TOKEN_TTL, s */
	int	 cache_ttl;		/* CACHE_TTL, s */
	int	 cache_max;		/* CACHE_MAX */
	int	 missing_ttl;		/* MISSING_TTL, s */
	char	*outbound_proxy;	/* OUTBOUND_PROXY: a list (egress.h) */
	int	 egress_rest;		/* EGRESS_REST, s */
	char	*redis_url;		/* REDIS_URL, or NULL */
	char	*redis_host;		/*   its parts: a host and port, */
	int	 redis_port;
	char	*redis_socket;		/*   or a unix socket; */
	char	*redis_password;	/*   NULL: none */
	int	 redis_db;
	int	 redis_timeout_ms;	/* REDIS_TIMEOUT, ms */
	char	*rate_limit;		/* RATE_LIMIT, N/SECONDS, or NULL */
	char	*rate_limit_media;	/* RATE_LIMIT_MEDIA, or NULL */
	int	 rate_limit_clients;	/* RATE_LIMIT_CLIENTS */
	char	*trusted_proxies;	/* TRUSTED_PROXIES, or NULL */
	char	*real_ip_header;	/* REAL_IP_HEADER, or NULL */
	char	*api_keys_file;		/* API_KEYS_FILE, or NULL */
	int	 api_keys_required;	/* API_KEYS_REQUIRED */
	char	*ca_file;		/* CA_FILE */
	char	*cdn_domains;		/* CDN_DOMAINS: what fetches may name */
	char	*ytdlp_python;		/* YTDLP_PYTHON */
	char	*ytdlp_pythonpath;	/* YTDLP_PYTHONPATH */
	char	*ytdlp_dir;		/* YTDLP_DIR */
	int	 ytdlp_fallback;	/* no YTDLP_DIR env: the system's */
	int	 weak_key;		/* ENCRYPTION_KEY shorter than 16 */
	int	 slideshow_max;		/* SLIDESHOW_MAX */
	int	 slideshow_timeout;	/* SLIDESHOW_TIMEOUT, s */
	int	 render_fetch_max_mb;	/* RENDER_FETCH_MAX, MB */
	char	*ffmpeg;		/* FFMPEG */
	int	 log_level;		/* LOG_LEVEL, enum log_level */
	char	*log_file;		/* LOG_FILE */
	char	*pid_file;		/* PID_FILE, or NULL */
	int	 body_max;		/* BODY_MAX, bytes */
	int	 shutdown_timeout;	/* SHUTDOWN_TIMEOUT, s */
	int	 web_ui;		/* WEB_UI: the page at / */
	int	 fetch_allow_private;	/* FETCH_ALLOW_PRIVATE (tests) */
	char	*test_post_hosts;	/* TEST_POST_HOSTS (tests) */
};

int	 conf_load(struct conf *, const char *file, char *err, size_t errsz);
void	 conf_clear(struct conf *);
int	 conf_diff(const struct conf *, const struct conf *,
	    const char **names, int max);
int	 conf_take(struct conf *to, struct conf *from, const char *name);
int	 conf_ncpu(void);
int	 conf_list_keys(FILE *);	/* conf_keys.c */
int	 conf_redis_parse(struct conf *, const char *url, char *err,
	    size_t errsz);	/* conf_redis.c */

#endif /* CONF_H */
