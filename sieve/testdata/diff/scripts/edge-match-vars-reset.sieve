require ["variables", "fileinto"];
if header :matches "subject" "*" { set "first" "${1}"; }
if header :contains "subject" "e" { fileinto "c-${1}"; }
if header :matches "x-none" "*" { set "x" "y"; }
fileinto "after-${1}";
