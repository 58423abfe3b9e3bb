"""Running our servers and their peers outside Docker, shared by tests/ and bench/.

Map: ``procs`` starts a program and stops it by PID, ``accounting`` reads CPU
and memory from /proc, ``peers`` configures nginx and our HTTP servers on
loopback, ``netns`` makes a throw-away network namespace (a MiniInternet),
``addresses`` says who sits where in it, ``dnsquery`` talks DNS to it,
``dnsservers`` starts our DNS servers from compose.yaml, ``dnspeers`` starts
NSD and Unbound, ``corpus`` generates DNS questions from the lab's zones.
"""
