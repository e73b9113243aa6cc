require ["editheader", "fileinto"];
addheader "X-Filtered" "yes";
if header :is "x-filtered" "yes" { fileinto "saw-added"; }
addheader :last "X-Last" "end";
if exists "x-last" { fileinto "saw-last"; }
