require ["date", "relational", "fileinto"];
if currentdate :value "ge" "year" "2024" { fileinto "now-ok"; }
if currentdate :zone "+0100" :value "lt" "year" "1990" { fileinto "past"; }
