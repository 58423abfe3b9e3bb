#!/bin/sh
# Point the container's stub resolver at the lab's own resolver, not Docker's
# embedded DNS (127.0.0.11), which would hide a hop and could leak lab names.
set -e
# Routes toward the lab's other networks (compose.yaml's LAB_ROUTES: "DST via
# GW; ..."): the servers reach the ISP through the exchange router, the ISP's
# hosts reach the servers through the ISP's router, the client goes out through
# the home router.
if [ -n "$LAB_ROUTES" ]; then
    echo "$LAB_ROUTES" | tr ';' '\n' | while read -r dst via gw; do
        [ -z "$dst" ] || ip route replace "$dst" via "$gw" || echo "entrypoint: no route to $dst via $gw" >&2
    done
fi
if [ -n "$LAB_RESOLVER" ]; then
    printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$LAB_RESOLVER" > /etc/resolv.conf
fi
# Distance: the link delay daemon holds this host's replies for the round trip
# its link has in the lab's profile (services/linkdelay; it reads the plan that
# `lab up` writes to /linkdelay). It runs beside the service, not instead of it:
# if it cannot start, the service still runs and `lab status` says the delay is
# not applied.
if [ -d /linkdelay ] && [ -z "$LAB_NO_LINKDELAY" ]; then
    python -m services.linkdelay &
fi
exec "$@"
