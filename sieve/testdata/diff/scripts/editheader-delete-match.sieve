require ["editheader", "fileinto"];
deleteheader :contains "x-tag" "sec";
if header :is "x-tag" "second" { fileinto "still-second"; }
if header :is "x-tag" "first" { fileinto "has-first"; }
deleteheader :index 1 :last "x-tag";
if header :is "x-tag" "third" { fileinto "still-third"; }
