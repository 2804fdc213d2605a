"""Journey analytics: event logs, process maps, variants and process discovery."""
