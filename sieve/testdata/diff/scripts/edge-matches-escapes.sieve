require ["fileinto", "variables"];
if header :matches "subject" "*\\?*" { fileinto "literal-q"; }
if header :matches "subject" "*#*" { fileinto "hash-${2}"; }
if header :matches "subject" "[*]*" { fileinto "bracket-${1}"; }
