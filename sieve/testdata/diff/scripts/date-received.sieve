require ["date", "fileinto", "variables", "index"];
if date :zone "+0000" :matches "received" "date" "*" { fileinto "rcvd-${1}"; }
if date :index 2 :zone "+0000" :matches "received" "time" "*" { fileinto "rcvd2-${1}"; }
if date :zone "+0000" :matches "resent-date" "iso8601" "*" { fileinto "resent-${1}"; }
