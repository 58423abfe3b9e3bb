#!/bin/sh
# Point the container's stub resolver at the lab's own resolver, not Docker's
# embedded DNS (127.0.0.11), which would hide a hop and could leak lab names.
set -e
if [ -n "$LAB_RESOLVER" ]; then
    printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$LAB_RESOLVER" > /etc/resolv.conf
fi
exec "$@"
