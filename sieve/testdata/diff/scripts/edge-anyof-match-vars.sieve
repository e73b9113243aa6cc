require ["variables", "fileinto"];
if anyof (header :matches "x-missing" "*", header :matches "from" "*@*") { fileinto "m-${2}"; }
