require ["editheader", "fileinto", "index"];
deleteheader "x-tag";
if not exists "x-tag" { fileinto "deleted"; }
deleteheader :index 1 "received";
if exists "received" { fileinto "received-protected"; }
