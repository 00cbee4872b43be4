# SPDX-License-Identifier: ISC
# tiktok-fcgi in containers, on Debian 12 (bookworm).  Stages:
#
#   build   compilers and -dev packages: the autotools build, installed
#           into /out; the service's own current yt-dlp, made by
#           tiktok-fcgi-ytdlp in /usr/lib/tiktok-fcgi/yt-dlp
#   nginx   Debian's nginx-light with deploy/nginx's locations: the web
#           server of compose.yaml (the app speaks FastCGI only)
#   redis   Debian's redis-server: the shared cache of compose.yaml
#   app     the default: only what runs (tiktok-fcgi, the helper, ffmpeg,
#           python3, the yt-dlp environment, cgi-fcgi for the health
#           check); no compiler, no -dev package
#
#   docker build -t tiktok-fcgi .
#   docker build --build-arg YTDLP_WHEELS=wheels -t tiktok-fcgi .
#   docker build --build-arg YTDLP_REFRESH=$(date +%s) -t tiktok-fcgi .
#
# yt-dlp comes from the package index (PIP_INDEX_URL may name a mirror),
# or, with YTDLP_WHEELS naming a folder of wheels inside the build
# context, from that folder alone.  When neither gives one, the build says
# so (a WARNING in its output) and the image falls back to Debian's
# yt-dlp, which is too old for today's TikTok: /health then warns, and
# `tiktok-fcgi-ytdlp update` in the running container (or a rebuild)
# brings a current one.  YTDLP_REQUIRED=1 fails such a build instead.
# podman: build with --format docker, or HEALTHCHECK is dropped.

ARG DEBIAN=debian:bookworm-slim

FROM ${DEBIAN} AS build
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends build-essential autoconf automake pkg-config \
	libfcgi-dev libcurl4-openssl-dev libjson-c-dev libssl-dev \
	libhiredis-dev python3 python3-venv ca-certificates && \
    apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# FFMPEG_BIN and YTDLP_PYTHON name what the runtime stage has (neither
# is installed here); --localstatedir puts YTDLP_DIR in /var/lib.
RUN autoreconf -fi >/dev/null && \
    ./configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
	FFMPEG_BIN=/usr/bin/ffmpeg YTDLP_PYTHON=/usr/bin/python3 \
	VENV_PYTHON=/usr/bin/python3 && \
    make -j"$(nproc)" && make install DESTDIR=/out && \
    rm -rf /out/usr/share/man
# YTDLP_WHEELS: a folder of the build context (copied to /src above).
ARG YTDLP_WHEELS=
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG YTDLP_REQUIRED=0
# Any new value (the time) makes a rebuild fetch yt-dlp again rather than
# reuse the layer it cached.
ARG YTDLP_REFRESH=
RUN mkdir -p /usr/lib/tiktok-fcgi/yt-dlp && \
    if [ -n "$YTDLP_WHEELS" ]; then \
	set -- -f "/src/$YTDLP_WHEELS"; from="the wheels in $YTDLP_WHEELS"; \
    else \
	set --; from="the package index"; \
    fi && \
    if HELPER_SCRIPT=/src/src/ytdlp_helper.py sh fcgi/tiktok-fcgi-ytdlp \
	-d /usr/lib/tiktok-fcgi/yt-dlp "$@" update; then \
	rm -rf /usr/lib/tiktok-fcgi/yt-dlp/.update.log && \
	/usr/lib/tiktok-fcgi/yt-dlp/current/bin/python3 -m pip uninstall \
	    -q -y pip setuptools; \
    else \
	cat /usr/lib/tiktok-fcgi/yt-dlp/.update.log; \
	echo "WARNING: no current yt-dlp from $from: this image falls back" \
	    "to Debian's yt-dlp, which cannot read today's TikTok." \
	    "Rebuild with the package index or YTDLP_WHEELS, or run" \
	    "'tiktok-fcgi-ytdlp update' in the running container."; \
	[ "$YTDLP_REQUIRED" != 1 ] || exit 1; \
	rm -rf /usr/lib/tiktok-fcgi/yt-dlp && \
	mkdir /usr/lib/tiktok-fcgi/yt-dlp; \
    fi

FROM ${DEBIAN} AS nginx
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && \
    chmod 755 /usr/sbin/policy-rc.d && apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends nginx-light curl && \
    apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
	/etc/nginx/sites-enabled/default && \
    ln -sf /dev/stdout /var/log/nginx/access.log && \
    ln -sf /dev/stderr /var/log/nginx/error.log && \
    install -d -o 10001 -g 10001 -m 0755 /run/tiktok-fcgi
COPY deploy/nginx/tiktok-fcgi-locations.conf /etc/nginx/snippets/
COPY deploy/docker/nginx-site.conf \
    /etc/nginx/sites-available/tiktok-fcgi
COPY deploy/docker/nginx-fleet.conf \
    /etc/nginx/sites-available/tiktok-fcgi-fleet
# NGINX_SITE: tiktok-fcgi (one instance) or tiktok-fcgi-fleet.
ENV NGINX_SITE=tiktok-fcgi
EXPOSE 80
STOPSIGNAL SIGQUIT
# Alive when it answers HTTP at all (a 502 too: whether the API works is
# the app's own health check).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD curl -sS -o /dev/null --max-time 8 http://127.0.0.1/health
CMD ["sh", "-c", "ln -sfn \"../sites-available/$NGINX_SITE\" /etc/nginx/sites-enabled/site && exec nginx -g 'daemon off;'"]

FROM ${DEBIAN} AS redis
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && \
    chmod 755 /usr/sbin/policy-rc.d && apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends redis-server && \
    apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD redis-cli ping | grep -q PONG
# A cache: nothing saved to disk, the oldest entries go when full.  Not
# published by compose.yaml; reachable from its network only.
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", \
    "--save", "", "--appendonly", "no", "--maxmemory", "256mb", \
    "--maxmemory-policy", "allkeys-lru"]

FROM ${DEBIAN} AS app
# ffmpeg's libavdevice links SDL, which brings Mesa's GPU drivers and
# LLVM (165 MB): never loaded by the ffmpeg command (no display, no GL),
# so dpkg leaves those files out, as slim images leave out manuals (the
# packages count as installed: apt works as ever).
RUN printf 'path-exclude=%s\n' '/usr/lib/*/dri/*' '/usr/lib/*/libLLVM-*' \
	'/usr/lib/*/libz3.so*' > /etc/dpkg/dpkg.cfg.d/tiktok-fcgi-no-gpu && \
    apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends libfcgi0ldbl libfcgi-bin libcurl4 \
	libjson-c5 libssl3 libhiredis0.14 ffmpeg python3 python3-venv \
	ca-certificates && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    ! ldd /usr/bin/ffmpeg | grep 'not found'
RUN groupadd --system --gid 10001 tiktok-fcgi && \
    useradd --system --uid 10001 --gid 10001 --no-create-home \
	--home-dir /var/lib/tiktok-fcgi --shell /usr/sbin/nologin \
	tiktok-fcgi && \
    install -d -o tiktok-fcgi -g tiktok-fcgi -m 0755 /var/lib/tiktok-fcgi \
	/var/lib/tiktok-fcgi/yt-dlp /run/tiktok-fcgi && \
    install -d -o tiktok-fcgi -g tiktok-fcgi -m 0700 /var/tmp/tiktok-fcgi
COPY --from=build /out/ /
COPY --from=build /usr/lib/tiktok-fcgi/yt-dlp/ /usr/lib/tiktok-fcgi/yt-dlp/
# No current yt-dlp was had at build time: Debian's (see above), in an
# environment of the same shape, so that YTDLP_DIR/current is what
# tiktok-fcgi starts with, and a later update there is taken by SIGHUP.
RUN if [ ! -e /usr/lib/tiktok-fcgi/yt-dlp/current ]; then \
	apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends yt-dlp && \
	apt-get clean && rm -rf /var/lib/apt/lists/* && \
	python3 -m venv --system-site-packages --without-pip \
	    /usr/lib/tiktok-fcgi/yt-dlp/env-debian && \
	ln -s env-debian /usr/lib/tiktok-fcgi/yt-dlp/current; \
    fi
COPY deploy/docker/entrypoint.sh /usr/bin/tiktok-fcgi-entrypoint
COPY deploy/docker/healthcheck.sh /usr/bin/tiktok-fcgi-healthcheck
# Every key of tiktok-fcgi.conf(5) may be set in the environment;
# ENCRYPTION_KEY must be.  FCGI_SOCKET (or FCGI_BIND, host:port) is where
# it listens.
ENV TEMP_DIR=/var/tmp/tiktok-fcgi \
    YTDLP_DIR=/var/lib/tiktok-fcgi/yt-dlp \
    FCGI_SOCKET=/run/tiktok-fcgi/tiktok-fcgi.sock \
    PIP_NO_CACHE_DIR=1
USER tiktok-fcgi
WORKDIR /var/lib/tiktok-fcgi
VOLUME ["/var/lib/tiktok-fcgi/yt-dlp", "/var/tmp/tiktok-fcgi"]
# SIGTERM: no new connections, requests in flight finish (at most
# SHUTDOWN_TIMEOUT, 20 s: give the container a stop timeout above it).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["tiktok-fcgi-healthcheck"]
ENTRYPOINT ["tiktok-fcgi-entrypoint"]
