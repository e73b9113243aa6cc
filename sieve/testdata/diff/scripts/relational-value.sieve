require ["relational", "fileinto", "comparator-i;ascii-numeric"];
if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "0" { fileinto "prio"; }
if header :value "lt" "subject" "m" { fileinto "lt-m"; }
if header :value "ge" :comparator "i;octet" "subject" "Y" { fileinto "ge-Y"; }
if header :value "ne" "from" "" { fileinto "ne"; }
if header :value "eq" :comparator "i;ascii-numeric" "x-spam-score" "7" { fileinto "seven"; }
