require ["relational", "fileinto"];
if header :value "gt" "subject" "HELLO" { fileinto "gt-hello"; }
if header :value "le" :comparator "i;ascii-casemap" "from" "a" { fileinto "le-a"; }
if address :value "lt" :domain "from" "f" { fileinto "dom-lt-f"; }
