"""Your own service inside the lab: ``weblab.yaml`` loaded (spec), turned into a Compose
override, DNS records, an edge route and certificates (generate)."""
