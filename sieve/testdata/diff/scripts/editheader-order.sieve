require ["editheader", "fileinto"];
fileinto "before";
addheader "X-Note" "added";
fileinto "after";
if header :index 1 :is "x-note" "added" { fileinto "top"; }
