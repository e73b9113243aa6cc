# messages: m01-plain.eml m16-boss.eml
if address :DOMAIN :IS "from" "example.com" { discard; }
