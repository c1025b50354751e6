# Sourced by ci/demo-nginx.sh and ci/mod_wsgi_suite.sh.
# nginx_conf WORK PORT SOCKET [PARAMS]: prints an nginx configuration that keeps
# its files in WORK, listens on 127.0.0.1:PORT and passes every request to the
# gateway on the unix SOCKET (keep-alive upstream connections), with the
# fastcgi_param file PARAMS (default: Debian's /etc/nginx/fastcgi_params).
nginx_conf() {
    local work="$1" port="$2" sock="$3" params="${4:-/etc/nginx/fastcgi_params}" user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat <<CONF
$user
daemon off;
master_process off;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $work/client_body;
    fastcgi_temp_path $work/fastcgi;
    proxy_temp_path $work/proxy;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    client_max_body_size 0;
    upstream iiswsgi { server unix:$sock; keepalive 8; }
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        location / {
            include $params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO \$uri;
            fastcgi_keep_conn on;
            fastcgi_pass iiswsgi;
        }
    }
}
CONF
}
