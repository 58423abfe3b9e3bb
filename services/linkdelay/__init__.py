"""Distance for the lab: a link delay applied in userspace where netem is missing.

Map: ``plan`` reads the delay plan the orchestrator writes (one entry per
host: the ports it serves, the round trip to add toward each peer, its
loss) and turns it into iptables rules; ``hold`` decides when a held packet
is released (delay, jitter, FIFO per peer); ``__main__`` is the daemon that
binds the NFQUEUE and releases packets on time.
"""
