require ["editheader", "fileinto"];
deleteheader "received";
addheader "Received" "fake";
if header :count "eq" :comparator "i;ascii-numeric" "received" "0" { fileinto "gone"; }
deleteheader "auto-submitted";
if exists "auto-submitted" { fileinto "auto-kept"; }
