require ["variables", "fileinto"];
fileinto "x${undefined}y${1}z${bad name}";
