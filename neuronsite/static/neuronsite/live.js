/* live parts: filled in once inference endpoints exist */
