require "variables";
set "to" "";
redirect "${to}";
