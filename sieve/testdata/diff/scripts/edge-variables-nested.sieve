require ["variables", "fileinto"];
set "name" "inner";
set "inner" "value";
fileinto "${${name}}-x";
