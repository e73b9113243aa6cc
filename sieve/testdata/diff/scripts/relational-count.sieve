require ["relational", "fileinto", "comparator-i;ascii-numeric"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto "many"; }
if header :count "eq" :comparator "i;ascii-numeric" "received" "2" { fileinto "two-received"; }
if header :count "eq" :comparator "i;ascii-numeric" "x-tag" "3" { fileinto "three-tags"; }
if header :count "lt" :comparator "i;ascii-numeric" "x-nonexistent" "1" { fileinto "none"; }
