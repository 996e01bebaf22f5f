"""What the tests share and are not tests themselves: servers they start, data they build, child scripts."""
