if address :localpart "from" "alice" { redirect "local@example.net"; }
if address :domain "from" "example.org" { redirect "domain@example.net"; }
if address :all :is "to" "dave@example.net" { redirect "all@example.net"; }
if address :is :all "cc" "quoted local@example.net" { redirect "quoted@example.net"; }
