#!/bin/sh
# dhclient's script (dhclient -sf): apply a lease to the interface, as Debian's
# dhclient-script does, and tell the rest of the client about it:
#   /run/weblab/lease.json    the lease (or why there is none), read by `lab`
#                             and by the browse step before it looks anything up
#   /run/weblab/upstream.conf "nameserver ADDR": the DNS server the lease names,
#                             which the stub cache (services.forwarder) asks
# dhclient sets $reason and new_*/old_* variables (dhclient-script(8)).
set -u
RUN=/run/weblab
mkdir -p "$RUN"

write_lease() {  # $1: JSON object
    printf '%s\n' "$1" > "$RUN/lease.json.tmp" && mv "$RUN/lease.json.tmp" "$RUN/lease.json"
}

mask_bits() {  # 255.255.255.0 -> 24
    bits=0
    for octet in $(echo "$1" | tr '.' ' '); do
        case $octet in
            255) bits=$((bits + 8)) ;; 254) bits=$((bits + 7)) ;; 252) bits=$((bits + 6)) ;;
            248) bits=$((bits + 5)) ;; 240) bits=$((bits + 4)) ;; 224) bits=$((bits + 3)) ;;
            192) bits=$((bits + 2)) ;; 128) bits=$((bits + 1)) ;;
        esac
    done
    echo "$bits"
}

case "$reason" in
    PREINIT)
        ip link set dev "$interface" up
        ;;
    BOUND|RENEW|REBIND|REBOOT)
        bits=$(mask_bits "${new_subnet_mask:-255.255.255.0}")
        if [ "${old_ip_address:-}" != "$new_ip_address" ]; then
            ip -4 addr flush dev "$interface"
        fi
        ip addr replace "$new_ip_address/$bits" dev "$interface"
        router=$(echo "${new_routers:-}" | cut -d' ' -f1)
        [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
        dns=$(echo "${new_domain_name_servers:-}" | cut -d' ' -f1)
        [ -n "$dns" ] && printf 'nameserver %s\n' "$dns" > "$RUN/upstream.conf"
        write_lease "{\"reason\": \"$reason\", \"interface\": \"$interface\", \"address\": \"$new_ip_address/$bits\", \"router\": \"$router\", \"dns\": \"$dns\", \"server\": \"${new_dhcp_server_identifier:-}\", \"lease_seconds\": ${new_dhcp_lease_time:-0}, \"at\": $(date +%s)}"
        ;;
    EXPIRE|FAIL|RELEASE|STOP|TIMEOUT)
        ip -4 addr flush dev "$interface"
        rm -f "$RUN/upstream.conf"
        write_lease "{\"reason\": \"$reason\", \"interface\": \"$interface\", \"address\": null, \"at\": $(date +%s)}"
        ;;
esac
exit 0
