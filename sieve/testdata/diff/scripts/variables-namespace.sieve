require ["variables", "fileinto"];
set "x" "1";
fileinto "a${foo.bar}b";
