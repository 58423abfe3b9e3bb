"""Captures: ``record`` runs dumpcap or tcpdump and embeds the TLS secrets,
``pcapng`` adds host names and comments to the file, ``live`` is `lab capture`
(recording while you explore by hand).
"""
