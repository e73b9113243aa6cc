require ["variables", "fileinto"];
if header :matches "subject" "??*" { fileinto "q-${1}${2}"; }
if header :matches "subject" "*e*o*" { fileinto "stars-${1}|${2}|${3}"; }
