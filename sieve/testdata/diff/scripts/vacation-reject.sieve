require ["vacation", "reject"];
vacation "one";
reject "no";
