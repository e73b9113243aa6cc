require ["date", "fileinto", "variables"];
if date :originalzone :matches "date" "std11" "*" { set "std" "${1}"; }
if date :originalzone :matches "date" "julian" "*" { set "jul" "${1}"; }
if date :originalzone :matches "date" "hour" "*" { set "h" "${1}"; }
if date :originalzone :matches "date" "minute" "*" { set "m" "${1}"; }
if date :originalzone :matches "date" "second" "*" { set "s" "${1}"; }
if date :originalzone :matches "date" "day" "*" { set "d" "${1}"; }
fileinto "${std}|${jul}|${h}${m}${s}|${d}";
