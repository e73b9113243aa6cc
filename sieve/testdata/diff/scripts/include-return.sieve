require ["include", "fileinto"];
include "returner";
fileinto "main-continues";
