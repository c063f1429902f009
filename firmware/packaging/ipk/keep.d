/etc/tiercast/identity.json
