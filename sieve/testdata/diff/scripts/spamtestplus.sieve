require ["spamtestplus", "relational", "comparator-i;ascii-numeric", "fileinto", "variables"];
if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "70" { fileinto "Junk"; }
if spamtest :percent :matches "*" { fileinto "pct-${1}"; }
