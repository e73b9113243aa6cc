require ["editheader", "fileinto"];
deleteheader :matches "subject" "*world";
if not exists "subject" { fileinto "subject-gone"; }
deleteheader :is "x-missing" "x";
