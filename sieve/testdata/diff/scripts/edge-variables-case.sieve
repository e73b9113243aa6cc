require ["variables", "fileinto"];
set "MyVar" "one";
fileinto "${myvar}-${MYVAR}";
