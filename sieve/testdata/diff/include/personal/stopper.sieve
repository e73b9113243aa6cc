require "fileinto";
fileinto "in-stopper";
stop;
