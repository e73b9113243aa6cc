require ["virustest", "relational", "comparator-i;ascii-numeric", "fileinto", "variables"];
if virustest :value "eq" :comparator "i;ascii-numeric" "5" { fileinto "Quarantine"; }
if virustest :matches "*" { fileinto "virus-${1}"; }
