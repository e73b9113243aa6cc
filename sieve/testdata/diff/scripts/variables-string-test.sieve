require ["variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
set "a" "hello";
set "empty" "";
if string :is "${a}" "hello" { fileinto "is"; }
if string :count "eq" :comparator "i;ascii-numeric" ["${a}", "${empty}", "x"] "2" { fileinto "count2"; }
if string :matches "${a}" "h*o" { fileinto "m-${1}"; }
if string :value "gt" "${a}" "abc" { fileinto "gt"; }
