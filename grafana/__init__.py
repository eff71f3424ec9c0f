"""slawatch's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11): one module per
dashboard, `build.py` renders them into grafana/dashboards/ for file provisioning."""
