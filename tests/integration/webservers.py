# SPDX-License-Identifier: ISC
"""The web servers a stack runs behind (nginx, Debian's packaged nginx,
Apache, Caddy, lighttpd), each started from the deploy/ file a user
would install, its paths and port replaced, in the stack's folder; and
an nginx of a test's own for an http-context file (nginx_http).  Python
stdlib only.
"""

import os
import shutil
import subprocess

from harness import free_port, skip, which

# Each web server: its program, the variable configure sets, its package.
WEB_BINARIES = {
    'nginx': ('nginx', 'NGINX_BIN', 'nginx-light'),
    'nginx-debian': ('nginx', 'NGINX_BIN', 'nginx-light'),
    'apache': ('apache2', 'APACHE2', 'apache2'),
    'caddy': ('caddy', 'CADDY', 'caddy'),
    'lighttpd': ('lighttpd', 'LIGHTTPD', 'lighttpd'),
}


class WebServers:
    """Stack's web servers: start_WEB() for each WEB of WEB_BINARIES,
    each setting port, base and nginx (the server's process), from the
    deploy/ files of the stack's srcdir."""

    def fill(self, template, **extra):
        text = open(os.path.join(self.srcdir, 'deploy', template)).read()
        subst = {'@PREFIX@': self.tmp, '@SOCKET@': self.sock,
                 '@PORT@': str(self.port), '@MOUNT@': self.mount,
                 '@LISTEN@': '127.0.0.1:%d' % self.port}
        subst.update(extra)
        for k, v in subst.items():
            text = text.replace(k, v)
        path = os.path.join(self.tmp, os.path.basename(template)[:-3])
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start_server(self, argv, env=None):
        self.nginx = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, self.web + '.log'), 'w'),
            env=env)
        self.procs.append(self.nginx)
        self.base = 'http://127.0.0.1:%d%s' % (self.port, self.prefix)

    def start_apache(self):
        self.port = free_port()
        user = 'User www-data\nGroup www-data' if os.geteuid() == 0 else ''
        conf = self.fill('apache/apache-standalone.conf.in', **{
            '@SNIPPET@': os.path.join(self.srcdir, 'deploy', 'apache',
                                      'tiktok-fcgi.conf'),
            '@USER@': user})
        self.start_server([self.web_bin, '-f', conf, '-DFOREGROUND'])

    def start_caddy(self):
        self.port = free_port()
        conf = self.fill('caddy/Caddyfile-standalone.in')
        env = dict(os.environ, XDG_DATA_HOME=self.tmp,
                   XDG_CONFIG_HOME=self.tmp, HOME=self.tmp)
        self.start_server([self.web_bin, 'run', '--config', conf,
                           '--adapter', 'caddyfile'], env)

    def start_lighttpd(self):
        self.port = free_port()
        conf = self.fill('lighttpd/lighttpd-standalone.conf.in')
        self.start_server([self.web_bin, '-D', '-f', conf])

    def start_nginx(self):
        self.port = free_port()
        tpl = open(os.path.join(self.srcdir, 'deploy', 'nginx',
                                'nginx-standalone.conf.in')).read()
        conf = (tpl.replace('@PREFIX@', self.tmp)
                .replace('@LISTEN@', '127.0.0.1:%d' % self.port)
                .replace('@SOCKET@', self.sock)
                .replace('@LOCATIONS@', os.path.join(
                    self.srcdir, 'deploy', 'nginx',
                    'tiktok-fcgi-locations.conf'))
                .replace('@USER@', 'user root;' if os.geteuid() == 0
                         else ''))
        path = os.path.join(self.tmp, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(conf)
        self.nginx = subprocess.Popen(
            [self.web_bin, '-p', self.tmp, '-c', path, '-e',
             os.path.join(self.tmp, 'nginx-error.log')],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, 'nginx.log'), 'w'))
        self.procs.append(self.nginx)
        self.base = 'http://127.0.0.1:%d' % self.port

    def start_nginx_debian(self):
        """Debian's packaged nginx layout, copied from /etc/nginx: its
        nginx.conf and default site as installed, the README's site file
        in sites-enabled and the locations in snippets.  Only paths, the
        port and the socket are changed; a line that is not found fails,
        so a changed Debian layout is noticed."""
        if not os.path.exists('/etc/nginx/nginx.conf') or not \
                os.path.exists('/etc/nginx/sites-available/default'):
            skip('no /etc/nginx from Debian\'s nginx-common')
        self.port = free_port()
        etc = os.path.join(self.tmp, 'etc-nginx')
        shutil.copytree('/etc/nginx', etc)
        listen = '127.0.0.1:%d' % self.port

        def edit(path, pairs, src=None):
            text = open(src or path).read()
            for old, new in pairs:
                if old not in text:
                    raise RuntimeError('%s: no %r' % (src or path, old))
                text = text.replace(old, new)
            with open(path, 'w') as f:
                f.write(text)
        temp = ''.join('\t%s_temp_path %s/%s;\n' % (k, self.tmp, k)
                       for k in ('client_body', 'proxy', 'fastcgi',
                                 'uwsgi', 'scgi'))
        edit(os.path.join(etc, 'nginx.conf'), [
            ('/etc/nginx/', etc + '/'),
            ('user www-data;', 'user root;' if os.geteuid() == 0 else ''),
            ('pid /run/nginx.pid;', 'pid %s/nginx.pid;' % self.tmp),
            ('/var/log/nginx/', self.tmp + '/'),
            ('http {\n', 'http {\n' + temp)])
        edit(os.path.join(etc, 'sites-enabled', 'default'), [
            ('listen 80 default_server;', 'listen %s default_server;'
             % listen),
            ('listen [::]:80 default_server;', '')])
        shutil.copy(os.path.join(self.srcdir, 'deploy', 'nginx',
                                 'tiktok-fcgi-locations.conf'),
                    os.path.join(etc, 'snippets'))
        site = os.path.join(etc, 'sites-available', 'tiktok-fcgi')
        edit(site, [('listen 80;', 'listen %s;' % listen),
                    ('listen [::]:80;', ''),
                    ('/run/tiktok-fcgi/tiktok-fcgi.sock', self.sock),
                    ('/etc/nginx/', etc + '/')],
             src=os.path.join(self.srcdir, 'deploy', 'nginx',
                              'tiktok-fcgi-site.conf'))
        os.symlink('../sites-available/tiktok-fcgi',
                   os.path.join(etc, 'sites-enabled', 'tiktok-fcgi'))
        # Debian's prefix stays (modules-enabled names modules relative
        # to it); every path the service writes is moved above.
        self.start_server([self.web_bin, '-c',
                           os.path.join(etc, 'nginx.conf'), '-e',
                           os.path.join(self.tmp, 'nginx-error.log'),
                           '-g', 'daemon off;'])


def nginx_http(tmp, name, http):
    """An nginx of the test's own running the http-context text http
    (a file of deploy/nginx with its addresses replaced), its files in
    tmp.  Returns its process (the caller stops it)."""
    conf = os.path.join(tmp, name + '.conf')
    with open(conf, 'w') as f:
        f.write('%s\nworker_processes 1; daemon off; pid %s/%s.pid;\n'
                'error_log %s/%s-error.log;\nevents { worker_connections '
                '4096; }\nhttp { access_log off; client_body_temp_path '
                '%s/cb;\nfastcgi_temp_path %s/fc;\nproxy_temp_path %s/px;\n'
                '%s\n}\n' % ('user root;' if os.geteuid() == 0 else '', tmp,
                             name, tmp, name, tmp, tmp, tmp, http))
    return subprocess.Popen(
        [which('nginx', 'NGINX_BIN'), '-p', tmp, '-c', conf, '-e',
         os.path.join(tmp, name + '.err')], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
