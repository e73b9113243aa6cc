require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if address :count "eq" :comparator "i;ascii-numeric" "to" "1" { fileinto "to1"; }
if address :count "eq" :comparator "i;ascii-numeric" "to" "3" { fileinto "to3"; }
if address :count "eq" :comparator "i;ascii-numeric" "cc" "3" { fileinto "cc3"; }
if address :count "eq" :comparator "i;ascii-numeric" "cc" "1" { fileinto "cc1"; }
