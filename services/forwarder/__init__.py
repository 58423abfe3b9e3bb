"""Caching DNS forwarder, the client's stub cache and the home router's cache:
``cache`` keeps whole answers by question (RFC 2181 §5.2, RFC 2308 §5),
``upstream`` says which recursive server to ask (fixed, or from the DHCP
lease's file), ``transport`` asks it (RFC 5452, TC -> TCP), ``server``
answers askers, ``control`` and ``ctl`` dump, flush and count.
"""
