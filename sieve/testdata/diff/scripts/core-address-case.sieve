if address :domain :is "from" "EXAMPLE.org" { redirect "ci@example.net"; }
if address :domain :comparator "i;octet" :is "from" "Example.ORG" { redirect "oct@example.net"; }
