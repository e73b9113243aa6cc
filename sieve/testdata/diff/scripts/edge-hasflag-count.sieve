require ["imap4flags", "relational", "comparator-i;ascii-numeric", "fileinto"];
setflag ["a", "b c"];
if hasflag :count "eq" :comparator "i;ascii-numeric" "3" { fileinto "three"; }
if hasflag :matches "*b*" { fileinto "has-b"; }
if hasflag ["x", "c"] { fileinto "has-c"; }
