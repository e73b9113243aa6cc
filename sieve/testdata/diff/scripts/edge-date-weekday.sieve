require ["date", "fileinto", "variables"];
if date :originalzone :matches "date" "weekday" "*" { fileinto "wd-${1}"; }
if date :zone "-1200" :matches "date" "date" "*" { fileinto "west-${1}"; }
if date :zone "+1400" :matches "date" "date" "*" { fileinto "east-${1}"; }
