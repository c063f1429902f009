/etc/tiercast/identity.json
/etc/tiercast/control-key
